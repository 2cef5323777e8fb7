# placeholder: the exporter is being written
