from genesis_core.cli import main

main()
