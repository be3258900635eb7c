//! `nginx.ingress.kubernetes.io/*` annotations -> typed options.
