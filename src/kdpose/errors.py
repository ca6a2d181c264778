"""Typed exceptions. Every error a user can cause is one of these, with a one-line message naming the
file (or key) and the problem; the CLI prints it as ``kdpose: error: <message>`` and exits non-zero."""


class KdposeError(Exception):
    """Base class of every error kdpose raises on purpose."""


class DataError(KdposeError):
    """A data file (annotation, image, video, detection results) is missing, unreadable or malformed."""


class ConfigError(KdposeError):
    """A recipe or setting is invalid: unknown key, wrong type, bad value."""


class CheckpointError(KdposeError):
    """A weights file cannot be loaded: unsafe content, missing/unexpected keys, wrong shapes."""


class UnknownNameError(KdposeError, KeyError):
    """A name looked up in a registry (model, skeleton, distiller, ...) does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingExtraError(KdposeError, ImportError):
    """An optional package (onnx, onnxruntime, matplotlib, ...) is needed and not installed; the message names the
    ``pip install "kdpose[extra]"`` command that installs it."""


class TrainingDiverged(KdposeError, FloatingPointError):
    """The loss or a gradient of a training step is inf or NaN. The step's update was not applied, so the weights and
    ``last.pt`` stay as they were; the message names the iteration and, for a gradient, the parameter."""


class TrainingStopped(KdposeError):
    """Training was stopped by a signal (SIGTERM, SIGINT). Normally the stop waited for a safe point and saved
    ``last.pt``, so the run continues exactly from there; a second signal stops at once, without saving. The CLI
    prints the message and exits with :attr:`exit_code`."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum

    def __reduce__(self):  # keep both arguments when pickled (e.g. sent back from a worker process)
        return type(self), (str(self), self.signum)

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by that signal (143 SIGTERM, 130 SIGINT)."""
        return 128 + self.signum
