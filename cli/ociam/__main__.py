from ociam.app import main

main()
