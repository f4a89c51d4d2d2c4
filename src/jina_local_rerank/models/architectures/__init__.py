"""Native (no remote code) implementations of Jina's checkpoint layouts."""
