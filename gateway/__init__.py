"""satugate's composition root: one package per room (see the README's layout).

``platform`` builds the app and its services; ``identity``, ``limits``, ``residents``,
``admin`` and ``auditing`` are the rooms of the API's workflows; ``console``, ``cli`` and
``demo`` are further ways in. The parts ``policies``, ``connectors`` and ``audit`` are
imported from here and never import it.
"""
