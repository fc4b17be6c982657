"""One module per world; each registers itself with :func:`flatland_env.registration.register_world`.

``import flatland_env`` imports every module here, so a new world needs no edit elsewhere.
"""
