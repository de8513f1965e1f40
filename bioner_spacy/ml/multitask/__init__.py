"""Multi-task wiring: dataset tag tokens (seed 000), shared and private encoders with the adversarial and difference losses and the cross-sharing gate (seed 001)."""
