# SPDX-License-Identifier: GPL-2.0-or-later
"""What every ``landslides`` run does around its ``processAlgorithm`` (decorator :func:`guarded`):

* **SIGTERM cancels**, where the process is ours to steer (``qgis_process``, in its main thread):
  the run stops as if the Cancel button was pressed, so its temporary files are removed and no
  output is left half-written. (QGIS desktop owns its signals; a killed desktop's leftovers are
  removed by the next run writing in that folder, see ``core.atomic.remove_stale``.)
* **An error is printed once.** ``qgis_process`` 3.22 prints a Python algorithm's error three times:
  QgsProcessingAlgorithm::run logs it to the message log, the console feedback prints it, and the
  feedback logs it again; the message log goes to stderr. One copy is kept (see
  :func:`_print_error_once`).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from qgis.core import Qgis, QgsApplication, QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication, QTimer


def _tr(text: str) -> str:
    return QCoreApplication.translate("landslides", text)


def in_qgis_process() -> bool:
    app = QgsApplication.instance()
    return app is not None and app.platform() == "qgis_process"


def _owns_signals() -> bool:
    return (
        in_qgis_process()
        and hasattr(signal, "SIGTERM")
        and threading.current_thread() is threading.main_thread()
    )


@contextlib.contextmanager
def sigterm_cancels(feedback: QgsProcessingFeedback | None) -> Iterator[list[int]]:
    """While the block runs, SIGTERM cancels ``feedback`` (in qgis_process's main thread only).
    Yields the list of signals received."""
    received: list[int] = []
    if feedback is None or not _owns_signals():
        yield received
        return

    def on_signal(signum: int, _frame: Any) -> None:
        if not received:
            feedback.pushInfo(_tr("Termination signal received: canceling, removing temporary files."))
        received.append(signum)
        feedback.cancel()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_error_once() -> None:
    """qgis_process only: let one copy of the error through. Without ``--json`` that is the console
    feedback's ``ERROR:`` line (the message log stays muted until the event loop runs again, after
    the error was reported); with ``--json`` there is no such line: the message log's first copy."""
    log = QgsApplication.messageLog()
    if log is None or log.signalsBlocked():
        return

    def unmute() -> None:
        log.blockSignals(False)

    if "--json" not in QCoreApplication.arguments():
        log.blockSignals(True)
        QTimer.singleShot(0, unmute)
        return
    signal_ = log.messageReceived[str, str, Qgis.MessageLevel]

    def after_first(_message: str, _tag: str, level: Qgis.MessageLevel) -> None:
        if level == Qgis.Critical:
            with contextlib.suppress(TypeError, RuntimeError):
                signal_.disconnect(after_first)
            log.blockSignals(True)
            QTimer.singleShot(0, unmute)

    signal_.connect(after_first)


def guarded(process: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Decorate ``processAlgorithm``: SIGTERM cancels, errors are printed once (see module docstring),
    and the layers the algorithm looked up before the run are released after it."""

    @functools.wraps(process)
    def wrapper(self: Any, parameters: dict, context: Any, feedback: QgsProcessingFeedback) -> dict:
        try:
            with sigterm_cancels(feedback) as received:
                try:
                    return process(self, parameters, context, feedback)
                except QgsProcessingException as error:
                    if received:
                        raise QgsProcessingException(
                            _tr("Stopped by a termination signal (SIGTERM). {}").format(error)
                        ) from error
                    raise
        except QgsProcessingException:
            if _owns_signals():
                _print_error_once()
            raise
        finally:
            # The layers and feature sources looked up before the run go with it, not with the
            # algorithm object (which Python may free only at exit, after QGIS has shut down).
            release = getattr(self, "release_layers", None)
            if release is not None:
                release()

    return wrapper
