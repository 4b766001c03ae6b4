"""Tests of the training Jobs the coordinator launches on Kubernetes."""
