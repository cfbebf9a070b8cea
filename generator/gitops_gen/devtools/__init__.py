"""Developer tooling, apart from the product: the chart's parameter table (`chartdoc`), the
command reference (`clidoc`), `make demo` (`demo`) and `make mutate`'s
folder and report (`mutation`). May import anything in the package.
"""
