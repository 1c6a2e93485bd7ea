#!/bin/sh
# Prints the state of the pretend "demo" environment as JSON: one key per resource.
#
# Make it drift:
#   touch cache.on                            # a "cache" resource appears (rm: it goes)
#   DEMO_API_REPLICAS=3 chant run drift-check # the "api" resource changes
replicas="${DEMO_API_REPLICAS:-2}"
cache=""
if [ -f cache.on ]; then
    cache=',
  "cache": {"image": "redis:7.2", "replicas": 1}'
fi
cat <<JSON
{
  "api": {"image": "demo/api:1.4.2", "replicas": $replicas},
  "web": {"image": "demo/web:1.4.2", "replicas": 2}$cache
}
JSON
