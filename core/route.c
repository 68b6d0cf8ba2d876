/* placeholder */ typedef int spw__placeholder_route;
