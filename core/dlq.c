/* placeholder */ typedef int spw__placeholder_dlq;
