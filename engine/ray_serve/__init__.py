"""The engine as a Ray Serve application: replicas that each run a ``LocalEngine`` on their
device, and ``RayEngine``, the ``Engine`` the application talks to on any machine of the
cluster. Imported only where ``PICKLOOP_ENGINE=ray``: ray is an extra (``pickloop[ray]``).
"""
