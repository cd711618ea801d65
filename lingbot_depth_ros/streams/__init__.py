"""Input streams without ROS: approximate-time synchronization, rates/latency, arrival timing."""
