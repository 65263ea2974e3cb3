"""The live smoke suite (`stagectl smoke`): pytest tests against a running stack."""
