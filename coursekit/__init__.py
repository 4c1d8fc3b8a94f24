"""coursekit: the tested, finished implementations behind the regularization course.

Each lesson's notebook derives a technique, lets you implement it, and then imports the
finished version from here. See the README for the syllabus.
"""
__version__ = "0.1.0"
