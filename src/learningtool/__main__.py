from learningtool.cli import main

main()
