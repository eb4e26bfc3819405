pytest_plugins = [
    "tests.fixtures.engine",
    "tests.fixtures.db",
    "tests.fixtures.tiny_xl",
    "tests.fixtures.ray_cluster",
]
