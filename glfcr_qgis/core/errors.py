"""Errors raised by the GLF-CR core library.

Every error names what is wrong and what to do about it; the QGIS algorithms turn them into
``QgsProcessingException`` unchanged, so the message is what the analyst reads.
"""

from __future__ import annotations


class GlfcrError(Exception):
    """Root of every error this library raises on purpose."""


class InputRasterError(GlfcrError, ValueError):
    """An input raster cannot be used as given (band count, grid, type, nodata)."""


class RasterReadError(GlfcrError, OSError):
    """A raster file cannot be opened or read."""


class OutputWriteError(GlfcrError, OSError):
    """An output file cannot be written where asked."""


class NoOverlapError(InputRasterError):
    """Two rasters that must overlap do not."""


class TileSizeError(GlfcrError, ValueError):
    """A tile size or overlap the network cannot use."""


class CheckpointError(GlfcrError, ValueError):
    """A checkpoint file cannot be read or does not hold GLF-CR weights."""


class DeviceError(GlfcrError, RuntimeError):
    """The requested compute device is not available."""


class DatasetError(GlfcrError, ValueError):
    """A dataset listing or layout is incomplete or empty."""


class ProcessingCanceled(GlfcrError):
    """The caller asked to stop; nothing was written."""


class MissingDependencyError(GlfcrError, ImportError):
    """A Python package the operation needs is not installed."""


class GlfcrWarning(UserWarning):
    """A problem the operation worked around; the QGIS algorithms show it as a Processing warning."""


class ParameterValueError(GlfcrError, ValueError):
    """An option of an operation is outside the range it accepts."""


class InstallError(GlfcrError, RuntimeError):
    """Installing the plugin's Python dependencies failed; ``log`` holds what pip printed."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class DownloadError(GlfcrError, OSError):
    """A file could not be downloaded, or what arrived is not what was asked for."""


class JobListError(GlfcrError, ValueError):
    """A list of scenes to process (a jobs CSV or its rows) cannot be used as given."""


class ClusterError(GlfcrError, RuntimeError):
    """The Dask cluster that should run a batch cannot be started, reached or used."""
