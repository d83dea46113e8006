from services.common.migration_env import run_env

run_env()
