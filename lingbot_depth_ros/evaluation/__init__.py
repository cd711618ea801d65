"""Evaluation without ROS: depth metrics, prediction alignment, sparse-input simulation, replay tools."""
