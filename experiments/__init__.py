"""Studies and experiments run on top of the agents: each module is one study, driven by a thin script."""
