"""The Reflex web UI of the AI platform: pages, state adapters and components."""
