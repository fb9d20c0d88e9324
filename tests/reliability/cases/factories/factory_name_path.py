from dataflows_factory import Factory

factory = Factory("../../etc", store="data")
