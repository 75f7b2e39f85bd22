"""One module per op family.  Each registers its blob ops and TFLite lowerings in the op
table (autotiny.blob.ops) when imported; importing this package imports every module in
it, so adding an op is adding a module here (plus its C kernel and op_table.c row)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
