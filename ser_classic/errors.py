"""The two exceptions of ser_classic."""

__all__ = ["AudioError", "ParameterError"]


class ParameterError(ValueError):
    """A function or estimator got an invalid parameter value."""


class AudioError(ValueError):
    """An audio file or waveform cannot be used; the message names the file and the problem."""

    def __init__(self, source: object, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
