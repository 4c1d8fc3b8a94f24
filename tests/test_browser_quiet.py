"""coursekit._browser: in JupyterLite, matplotlib's one-time font-cache notice is dropped, nothing else."""
import logging

from coursekit import _browser


def _captured(logger, message, caplog):
    caplog.clear()
    logger.warning(message)
    return [r.getMessage() for r in caplog.records]


def test_only_the_font_cache_notice_is_dropped_and_only_in_the_browser(caplog):
    logger = logging.getLogger("matplotlib.font_manager")
    before = list(logger.filters)
    try:
        assert not _browser.prepare(platform="linux") and logger.filters == before
        assert _browser.prepare(platform="emscripten")
        assert _browser.prepare(platform="emscripten")  # twice: one filter
        assert len(logger.filters) == len(before) + 1
        with caplog.at_level(logging.WARNING, logger="matplotlib.font_manager"):
            notice = "Matplotlib is building the font cache; this may take a moment."
            assert _captured(logger, notice, caplog) == []
            other = "findfont: Font family 'Nope' not found."
            assert _captured(logger, other, caplog) == [other]
    finally:
        logger.filters[:] = before
