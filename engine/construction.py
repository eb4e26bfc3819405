"""One lock for everything in this process that creates torch modules.

While they load, diffusers, transformers and accelerate create modules on the meta device by
patching torch for the whole process, not the thread: a module created on another thread at
that moment comes out empty ("Cannot copy out of meta tensor"). See
huggingface/diffusers#4296 and huggingface/transformers#41782.
"""

import threading

MODULE_CONSTRUCTION = threading.Lock()
