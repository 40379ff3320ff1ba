"""Findings: the claims a poll supports, in plain sentences (Markdown and JSON)."""

from __future__ import annotations

from barometer.publish.findings.find import Finding, Findings, Subject, find

__all__ = ["Finding", "Findings", "Subject", "find"]
