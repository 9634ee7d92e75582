"""Assembly: from a validated config to the objects a deployment runs.

The rule this package carries: **what is measured is what is deployed.**  Every object
the runtime schedules is built here, and so are the ones that ``crowdsafe calibrate``,
the evaluations and the benchmark use, through the same functions: a line evaluated with
``crowdsafe eval lines`` runs through the line stage :func:`build_line_stage` gives the
runtime, a calibration check image draws the zones :func:`build_zones` measures.  The
runtime (``runtime.py``) only starts threads and schedules frames; nothing in it reads
a config section to decide what to build.

Modules:

* :mod:`~crowdsafe.assembly.sources`: a camera's source address and reader options;
* :mod:`~crowdsafe.assembly.layout`: zones and counting lines on the ground plane;
* :mod:`~crowdsafe.assembly.factories`: the detector, density model, anonymiser and
  store, each chosen by a discriminated config section (``detector.kind``,
  ``storage.backend``), and the privacy wall on model roles;
* :mod:`~crowdsafe.assembly.stages`: each camera's pipeline with its line and density
  stages;
* :mod:`~crowdsafe.assembly.site`: all of the above for a whole config
  (:func:`assemble`).
"""

from __future__ import annotations

from crowdsafe.assembly.factories import (
    DETECTOR_KINDS,
    STORE_BACKENDS,
    DetectorKind,
    build_anonymiser,
    build_density_model,
    build_detector,
    build_detectors,
    build_store,
    model_path,
)
from crowdsafe.assembly.layout import build_zones, counting_lines
from crowdsafe.assembly.site import Assembly, CameraParts, assemble
from crowdsafe.assembly.sources import address_for, reader_options
from crowdsafe.assembly.stages import (
    BLUR_SCORE_THRESHOLD,
    ThresholdedDetector,
    build_density_stage,
    build_line_stage,
    detect_threshold,
)

__all__ = [
    "BLUR_SCORE_THRESHOLD",
    "DETECTOR_KINDS",
    "STORE_BACKENDS",
    "Assembly",
    "CameraParts",
    "DetectorKind",
    "ThresholdedDetector",
    "address_for",
    "assemble",
    "build_anonymiser",
    "build_density_model",
    "build_density_stage",
    "build_detector",
    "build_detectors",
    "build_line_stage",
    "build_store",
    "build_zones",
    "counting_lines",
    "detect_threshold",
    "model_path",
    "reader_options",
]
