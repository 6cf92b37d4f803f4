"""ReLU-Dropout Lab engine: settings, data, batched networks, metrics, training. No UI here."""
__version__ = "0.1.0"


def __getattr__(name):  # `core.train(...)` without importing torch on `import core.config`
    if name in ("train", "run_experiment"):
        from core import train as _t
        return getattr(_t, name)
    raise AttributeError(name)
