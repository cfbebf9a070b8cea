"""Developer tooling, apart from the product: the chart's parameter table (`chartdoc`), the
command reference (`clidoc`) and `make demo` (`demo`). May import anything in the package.
"""
