# SPDX-License-Identifier: GPL-2.0-or-later
"""Translations: ``tr()`` for every user-visible text of the dock and the button, and the translator.

``tr("text")`` is what ``pylupdate5`` collects (``make update-translations``) into the ``@default``
context of ``i18n/landslide_detector_<lang>.ts``; ``lrelease`` compiles those into the ``.qm`` files
loaded here. The ``.ui`` file's texts are translated by Qt itself in the ``LandslideDock`` context.
Processing texts use the algorithms' own ``self.tr`` (their class names as contexts).
"""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, QTranslator

I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"
PREFIX = "landslide_detector_"
CONTEXT = "@default"  # where pylupdate5 puts plain tr("...") calls


def tr(text: str) -> str:
    return QCoreApplication.translate(CONTEXT, text)


def qm_file(locale: str, folder: Path = I18N_DIR) -> Path | None:
    """The compiled translation for ``locale`` ("de_CH", then "de"), or None (English, the source)."""
    locale = (locale or "").replace("-", "_")
    for name in dict.fromkeys([locale, locale.split("_")[0]]):
        if not name:
            continue
        path = folder / f"{PREFIX}{name}.qm"
        if path.is_file():
            return path
    return None


def user_locale() -> str:
    """The locale of QGIS's interface (Settings ▸ Options ▸ General), else the system's."""
    from qgis.core import QgsApplication

    return QgsApplication.locale() or ""


def install_translator(locale: str | None = None) -> QTranslator | None:
    """Load and install the translation for ``locale`` (default: QGIS's); None when there is none."""
    path = qm_file(user_locale() if locale is None else locale)
    if path is None:
        return None
    translator = QTranslator()
    if not translator.load(str(path)):
        return None
    QCoreApplication.installTranslator(translator)
    return translator


def remove_translator(translator: QTranslator | None) -> None:
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
