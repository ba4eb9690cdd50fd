"""Protocol-faithful local venue simulators and the synthetic scenario generator."""
