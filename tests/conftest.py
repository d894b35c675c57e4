"""Shared pytest configuration: Qt runs offscreen in every test."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
