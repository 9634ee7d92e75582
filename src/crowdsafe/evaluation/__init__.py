"""Evaluation against annotated data: detection counts on MOT-format ground truth."""
