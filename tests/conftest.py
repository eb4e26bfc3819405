pytest_plugins = [
    "tests.fixtures.engine",
    "tests.fixtures.db",
    "tests.fixtures.tiny_xl",
    "tests.fixtures.tiny_sd3",
    "tests.fixtures.tiny_flux",
    "tests.fixtures.ray_cluster",
]
