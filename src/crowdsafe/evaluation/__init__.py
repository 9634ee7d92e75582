"""Evaluation against annotated data, and the speed benchmark (``crowdsafe bench``).

Dataset readers (ShanghaiTech, Mall, UCF_CC_50, MOT15), MOT ground truth, and the
detection, count, line, anonymisation, density and forecast evaluations.  Offline: the
runtime packages (``density``, ``forecast``, ``detect`` and the rest) never import it.
"""
