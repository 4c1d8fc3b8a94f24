"""Plots that answer one question each. Every function takes an optional ``ax`` and returns it.

Colours are the same across the course: training curves in ``TRAIN_COLOR`` (blue), validation
curves in ``VALIDATION_COLOR`` (orange), classes 0/1 in ``CLASS_COLORS`` (blue/red). Bad input
(an empty or all-NaN history, a missing metric, labels other than 0/1, ...) is a
``ValueError``/``TypeError`` naming the argument, not a matplotlib traceback.
"""
from ._common import CLASS_COLORS, TRAIN_COLOR, VALIDATION_COLOR
from .boundaries import (
                         mc_dropout_predict,
                         plot_dataset,
                         plot_decision_boundary,
                         plot_mc_dropout_uncertainty,
                         plot_reference_boundary,
)
from .comparisons import plot_effect_by_draw, plot_paired_differences, plot_seed_results
from .curves import plot_early_stopping, plot_history, plot_validation_curve
from .distributions import (
                         plot_activation_histograms,
                         plot_activation_std,
                         plot_feature_map_rows,
                         plot_image_rows,
                         plot_reliability,
                         plot_weight_histograms,
)

__all__ = ["CLASS_COLORS", "TRAIN_COLOR", "VALIDATION_COLOR",
           "plot_dataset", "plot_decision_boundary", "plot_reference_boundary", "mc_dropout_predict",
           "plot_mc_dropout_uncertainty", "plot_history", "plot_validation_curve", "plot_early_stopping",
           "plot_weight_histograms", "plot_activation_histograms", "plot_activation_std", "plot_feature_map_rows",
           "plot_image_rows", "plot_reliability", "plot_paired_differences", "plot_effect_by_draw",
           "plot_seed_results"]
