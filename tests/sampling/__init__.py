"""Tests of envwatch.sampling (样品识别标识与流转)."""
