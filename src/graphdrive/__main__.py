from graphdrive.cli import main

main()
