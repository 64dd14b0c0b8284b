"""Session-wide test ordering.

TensorFlow bundles its own LLVM; once it is loaded, numba's JIT (which librosa uses, e.g. for
onset peak picking) can segfault when it compiles in the same process. Tests marked
``tensorflow`` import it lazily and run after every other in-process test, so one plain
``pytest`` run covers the whole suite. (Workflow jobs are separate processes, unaffected.)
"""


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.get_closest_marker("tensorflow") is not None)  # stable sort
