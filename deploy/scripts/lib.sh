# Shared by the deploy scripts: say what is done, then do it.
say() { printf '\033[1m[deploy]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# The classic builder: Debian's docker.io has no buildx.
export DOCKER_BUILDKIT=0
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$DEPLOY_DIR/.." && pwd)
COMPOSE=(docker-compose -p tagfeed -f "$DEPLOY_DIR/compose.yaml")
export DEPLOY_DIR REPO_DIR
