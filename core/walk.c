/* placeholder */ typedef int spw__placeholder_walk;
