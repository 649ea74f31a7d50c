"""The domain: messages, tags, time ranges and pages. Standard library only, no I/O."""
