"""``python -m redis_store``: the ``redis-store`` command line without the console script."""

from redis_store.cli import program

if __name__ == "__main__":
    program()
