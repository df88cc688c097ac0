"""Tests of orchbench.report (a package so its module names do not clash with others)."""
