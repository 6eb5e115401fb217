"""The platform every room stands on: the app factory, settings, the services
built at start, middleware, errors, logs, metrics, the store and the key ring."""
