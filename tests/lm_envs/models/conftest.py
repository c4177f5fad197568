import os

# every model load must work offline; a test that reaches for the network fails instead of hanging
os.environ.setdefault("HF_HUB_OFFLINE", "1")
