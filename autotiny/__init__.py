"""autotiny: budget-first AutoML search for microcontrollers."""

__version__ = "0.1.0"
