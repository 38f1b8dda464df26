"""Runs: the stage functions composed per input file with the models loaded (compose), the Beam graph
that runs that composition on workers (beam), and staging and committing into a warehouse (run)."""
